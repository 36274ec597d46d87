# Customer churn AMP, the model endpoint: churn probability of one customer with each feature's
# share in it. Metrics on: every call records its input and output in the model metrics store,
# and the MLOps simulation job adds the true outcome later (track_delayed_metrics).

import cdsw

import churn

MODEL = churn.load()


@cdsw.model_metrics
def explain(args):
    result = churn.explain_one(MODEL, args)
    cdsw.track_metric("input_data", result["data"])
    cdsw.track_metric("probability", result["probability"])
    cdsw.track_metric("prediction", result["prediction"])
    return result
