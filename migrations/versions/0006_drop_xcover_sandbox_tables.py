"""drop xcover sandbox tables

Revision ID: 0006
Revises: 0005
The XCover sandbox left the portal: it is the top-level package xcover_sandbox with its own database
(XCOVER_SANDBOX_DATABASE_URL), so its tables leave the portal's schema. Downgrade recreates them empty,
exactly as 0002 created them. Sandbox data (test data only) is not carried over.

"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _revision_0002():
    """Load 0002, whose upgrade and downgrade are this revision's downgrade and upgrade."""
    spec = spec_from_file_location("portal_migration_0002", Path(__file__).with_name("0002_xcover_sandbox.py"))
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade():
    _revision_0002().downgrade()


def downgrade():
    _revision_0002().upgrade()
