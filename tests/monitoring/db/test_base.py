"""The query helpers of monitoring/db/base.py."""

import uuid

from sqlalchemy import and_, select
from sqlalchemy.dialects import postgresql

from metamon.monitoring.db.base import among
from metamon.monitoring.db.models import Trace


def test_two_id_lists_in_one_statement_keep_their_own_values():
    traces, projects = [uuid.uuid4()], [uuid.uuid4(), uuid.uuid4()]
    query = select(Trace.id).where(and_(among(Trace.id, traces), among(Trace.project_id, projects)))
    compiled = query.compile(dialect=postgresql.dialect())
    assert sorted(map(len, compiled.params.values())) == [1, 2]
