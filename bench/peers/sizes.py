"""Workload sizes. `full` is BENCHMARKS.md's; `smoke` keeps CI under ~3 minutes.

cap_s is the time a peer gets for one workload step before it is reported
"did not finish in T" (never extrapolated).
"""

SIZES: dict[str, dict[str, dict[str, int]]] = {
    "smoke": {
        "W1": {"procs": 1, "cap_s": 60},
        "W2": {"steps": 500, "busy_steps": 200, "cap_s": 5},
        "W4": {"runs": 2, "steps": 100, "parallel": 2, "cap_s": 30},
        "W5": {"writers": 4, "seconds": 8, "burst_s": 1, "drain_cap_s": 5, "cap_s": 60},
        "W6": {"runs": 3, "steps": 20000, "repeats": 3, "cap_s": 60},
        "W7": {"runs": 100, "repeats": 5, "cap_s": 60},
        "W8": {"steps": 20_000, "kill_after_s": 2, "server_steps": 5000, "server_kill_after_s": 2, "down_s": 2,
               "cap_s": 60},
        "W9": {"steps": 3000, "cap_s": 30},
    },
    "medium": {
        "W1": {"procs": 10, "cap_s": 120},
        "W2": {"steps": 100_000, "busy_steps": 2000, "cap_s": 120},
        "W4": {"runs": 40, "steps": 2000, "parallel": 4, "cap_s": 300},
        "W5": {"writers": 20, "seconds": 60, "burst_s": 10, "drain_cap_s": 120, "cap_s": 300},
        "W6": {"runs": 10, "steps": 100_000, "repeats": 10, "cap_s": 300},
        "W7": {"runs": 2000, "repeats": 20, "cap_s": 300},
        "W8": {"steps": 100_000, "kill_after_s": 10, "server_steps": 30_000, "server_kill_after_s": 10,
               "down_s": 5, "cap_s": 180},
        "W9": {"steps": 100_000, "cap_s": 300},
    },
    "full": {
        "W1": {"procs": 50, "cap_s": 120},
        "W2": {"steps": 1_000_000, "busy_steps": 5000, "cap_s": 600},
        "W4": {"runs": 1000, "steps": 10_000, "parallel": 8, "cap_s": 1800},
        "W5": {"writers": 100, "seconds": 300, "burst_s": 30, "drain_cap_s": 300, "cap_s": 900},
        "W6": {"runs": 100, "steps": 1_000_000, "repeats": 20, "cap_s": 1800},
        "W7": {"runs": 10_000, "repeats": 20, "cap_s": 1800},
        "W8": {"steps": 1_000_000, "kill_after_s": 60, "server_steps": 200_000, "server_kill_after_s": 60,
               "down_s": 10, "cap_s": 600},
        "W9": {"steps": 1_000_000, "cap_s": 1200},
    },
}
