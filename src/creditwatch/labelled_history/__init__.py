"""A labelled history for the local stack: days of backdated, scored traffic and outcomes from a known truth.

`creditwatch simulate history DAYS --scenario stable|concept-drift|covariate-shift` writes what the
predict function would have logged over the DAYS whole UTC days before today, then posts the outcomes that
have "matured" by now through `POST /outcomes`. Nothing here reaches AWS: records go only to a stack on
this machine (`require_local`).

- **Applicants** are new ones made from the training applicants (the model's reference): each starts as
  a random training applicant and takes each feature, with probability RECOMBINE (0.35), from another
  random one. Every feature's distribution is then the training data's (the drift job's tests stay
  silent however long the window), most rows are new to the forest, so its probabilities on them are as
  honest as on validation data (approval ~24.5% against 24.3% on the holdout), and most of the relations
  between features survive. Resampling training rows as they are would flatter an overfit forest (AUC
  ~0.91 on them, and a confidence-based estimate that reads ~0.05 high); the 300 validation rows alone
  are too few: a week of traffic resampled from them fails 11 of 19 drift tests.
- **The ground truth** the simulator owns is P(bad | x) from a ridge logistic model fitted (scikit-learn)
  on all 1,000 rows of the data, numerical features clipped to the data's range (the relation does not
  extrapolate), with a temperature and an offset solved against the served model on 4,000 applicants
  drawn as above (seed 0): on stable traffic the forest's expected realized AUC equals its validation
  AUC and the bad rate equals the data's (30%).
  Outcomes are Bernoulli draws from it (seeded), reported by default for approved applicants only
  (`outcomes="approved"`: a refused applicant gets no loan, so no repayment to observe; `"all"` for a
  lender with bureau data on declined applicants). Both draw the same history for a seed: the approved-only
  outcomes are the approved part of `all`'s.
- **Scenarios** change one thing from `change_days_ago` on: `concept-drift` inverts the effect of the
  checking account in the truth (inputs unchanged: input drift stays silent, the estimate cannot see it,
  realized AUC falls to ~0.57); `covariate-shift` moves the inputs (COVARIATE_SHIFT) with the truth
  unchanged. `stable` changes nothing.
- **Records** are built by the predict function's own code (validation model, scoring, contributions,
  `log_records(single=True)`) and written with the common LogWriter's batch path. They are marked as
  simulated by their request id, `simulated-history-<scenario>-<prediction id>` (LogRecord has no
  `simulated` field since issue 9; the model version stays the served one, which the jobs compare).
- **Ids** are UUIDv7 of the backdated time with seeded random bits: the same seed, scenario, days and
  rate on the same UTC day give the same records, so a rerun finds them written and only posts the
  outcomes that matured since (they answer `unchanged` for the rest).
"""

from creditwatch.labelled_history.generate import (
    COVARIATE_SHIFT,
    Simulated,
    build_records,
    due_outcomes,
    generate,
    request_id,
    sample_auc,
    seeded_uuid7,
)
from creditwatch.labelled_history.plan import (
    DAY_MS,
    HISTORY_SCENARIOS,
    REQUEST_ID_PREFIX,
    HistoryError,
    HistoryPlan,
    history_end,
    parse_delay,
)
from creditwatch.labelled_history.run import (
    OUTCOME_ATTEMPTS,
    OUTCOME_BATCH,
    HistoryResult,
    Poster,
    require_local,
    run_history,
)
from creditwatch.labelled_history.truth import (
    CALIBRATION_SAMPLE,
    CONCEPT_FEATURE,
    DATA_CSV,
    RECOMBINE,
    RIDGE,
    TARGET,
    Truth,
    World,
    applications,
    build_world,
    calibrate,
    concept_truth,
    expected_auc,
    fit_truth,
    load_data,
    load_reference,
    recombine,
    validation_auc,
)

__all__ = [
    "CALIBRATION_SAMPLE",
    "CONCEPT_FEATURE",
    "COVARIATE_SHIFT",
    "DATA_CSV",
    "DAY_MS",
    "HISTORY_SCENARIOS",
    "OUTCOME_ATTEMPTS",
    "OUTCOME_BATCH",
    "RECOMBINE",
    "REQUEST_ID_PREFIX",
    "RIDGE",
    "TARGET",
    "HistoryError",
    "HistoryPlan",
    "HistoryResult",
    "Poster",
    "Simulated",
    "Truth",
    "World",
    "applications",
    "build_records",
    "build_world",
    "calibrate",
    "concept_truth",
    "due_outcomes",
    "expected_auc",
    "fit_truth",
    "generate",
    "history_end",
    "load_data",
    "load_reference",
    "parse_delay",
    "recombine",
    "request_id",
    "require_local",
    "run_history",
    "sample_auc",
    "seeded_uuid7",
    "validation_auc",
]
