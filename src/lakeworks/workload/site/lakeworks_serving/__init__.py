"""The model replica server: runs inside a model replica workload, under the runtime's Python.

``python -m lakeworks_serving`` loads the model file once (or the MLflow model of a
registry build), then answers the gateway on ``127.0.0.1:$LAKEWORKS_REPLICA_PORT``. Only the
standard library (plus the model's own imports) is used; nothing from the server side.
"""
