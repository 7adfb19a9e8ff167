"""Put this folder on PYTHONPATH with ZHCLIP_HIDE_MODULES=a,b,c and those top-level modules cannot be imported,
as if their packages were not installed: `import a` raises ModuleNotFoundError and `importlib.util.find_spec("a")`
is None (a None entry in sys.modules does both). Child processes inherit the environment, so them too."""

import os
import sys

for _name in filter(None, os.environ.get("ZHCLIP_HIDE_MODULES", "").split(",")):
    sys.modules[_name] = None
