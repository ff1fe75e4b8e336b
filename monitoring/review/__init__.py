"""Expert review: the queue of traces worth a person's time, labels, agreement, and the golden dataset."""
