"""The validation agent: replays a golden dataset through a target app's baseline and candidate configs
and decides, with paired statistics, whether the candidate is an improvement."""
