# Installed-wheel check: opens a file, records 3.5 hours in the past, reads them back.
import sys
import timeledger

engine = timeledger.Engine(sys.argv[1])
try:
    engine.create_category(1, "Development")
except timeledger.ConflictError:
    pass  # second run on the same file
engine.add_entry(1, 42, "Development", "2026-01-05T09:00:00Z", "2026-01-05T12:30:00Z")
print("python hours", engine.guild_status(1).total_time_hours)
