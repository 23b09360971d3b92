"""The embedded demo database shared by the ``crm``, ``orders`` and ``appointments`` plugins.

A private helper package (its name starts with ``_``, so plugin discovery skips it); the plugins
import it relatively (``from .._demo_store import Store``).

The database is one SQLite file, created and seeded with a small bicycle shop ("Harbor Cycles":
customers, web orders with carriers and tracking numbers, workshop services, mechanics, opening
hours and a few appointments) the first time any of the three plugins starts. Its default path is
``<TOOLSERVER_DATA_DIR or .toolserver>/business.sqlite3``; each plugin's ``db_path`` setting
overrides it.
"""

from .codes import normalise_code
from .customers import (
    CustomerRecord,
    MatchedBy,
    normalise_customer_id,
    normalise_email,
    resolve_customer,
)
from .formatting import money, spoken_date, spoken_time
from .phone import format_phone, normalise_phone, try_normalise_phone
from .settings import (
    DemoStoreSettings,
    default_db_path,
    open_store,
    plugin_store,
    use_demo_store,
)
from .store import Store, StoreClosed, from_db_time, to_db_time, utc_now

__all__ = [
    "CustomerRecord",
    "DemoStoreSettings",
    "MatchedBy",
    "Store",
    "StoreClosed",
    "default_db_path",
    "format_phone",
    "from_db_time",
    "money",
    "normalise_code",
    "normalise_customer_id",
    "normalise_email",
    "normalise_phone",
    "open_store",
    "plugin_store",
    "resolve_customer",
    "spoken_date",
    "spoken_time",
    "to_db_time",
    "try_normalise_phone",
    "use_demo_store",
    "utc_now",
]
