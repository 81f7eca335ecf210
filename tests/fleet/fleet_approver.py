"""The approver "host" of the fleet test: answers every pending request by a rule the agents can check.

Even ``n``: approved, with the arguments edited to name the call they were approved for; odd ``n``:
denied with a reason naming it. Requests from hosts listed in argv[3] (comma-separated) are left
unanswered (their agents are the ones killed). Runs until the file argv[2] exists.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agentguard.approval import AlreadyAnswered, ApprovalDesk, PostgresApprovalStore
from agentguard.errors import ApprovalError


def main() -> None:
    url, stop, ignored = sys.argv[1], Path(sys.argv[2]), set(sys.argv[3].split(","))
    store = PostgresApprovalStore(url, owner_stale_s=3.0, stale_after_s=5.0)
    desk = ApprovalDesk(store, approver="fleet-approver", channel="fleet")
    seen = 0
    while not stop.exists():
        try:
            seen = store.version()
            store.sweep()
            for queued in store.pending():
                if queued.owner.host in ignored:
                    continue
                args = queued.call.arguments
                try:
                    if args["n"] % 2 == 0:
                        desk.approve(queued.ref, edited_arguments={**args, "approved_for": args["tag"]})
                    else:
                        desk.deny(queued.ref, f"deny {args['tag']}")
                except AlreadyAnswered:
                    continue
        except ApprovalError:  # the database is restarting or unreachable: try again shortly
            pass
        store.wait_for_change(seen, 0.5)
    store.close()


if __name__ == "__main__":
    main()
