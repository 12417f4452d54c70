"""Fire drills: inject a fault, run the affected pipeline DAG for real (dag.test on the
Airflow metadata DB), and show the incident opening and the page reaching whoever is on call.

    techflow-ops drill kafka-outage     click events stop (synthetic fault: click_events stale) -> engagement ingest
    techflow-ops drill bad-data         duplicate click events -> engagement source validation (GX-style checks)
    techflow-ops drill stale-upstream   upstream never validated -> executive_investor circuit breaker
    techflow-ops drill spark-oom        the executive_investor join runs out of memory (injected into the run;
                                        there is no Spark cluster here), after profit/growth/engagement ran

`catalogue` names the drills, `run` runs one, `cli` registers `techflow-ops drill`. Data,
warehouse and (by default) the ops DB of a drill live in their own workspace under
`$TECHFLOW_DATA_DIR/drills/<drill>/`, so a drill never touches production tables; the pages
go out through the configured connections to the people the real on-call schedule names,
marked [DRILL]. `--shared-ops-db` opens the incident in the configured ops DB instead (to see
it in the UI). Everything runs in this process: callbacks fire in-process under dag.test().
"""

from __future__ import annotations

from .catalogue import DRILLS, Drill
from .run import run_drill

__all__ = ["DRILLS", "Drill", "run_drill"]
