# The model function. Deploy it with file `predict.py`, function `predict` and the
# example input {"petal_length": 4}. Run fit.py first: it writes model.pkl.

import pickle

with open("model.pkl", "rb") as handle:
    model = pickle.load(handle)


def predict(args):
    petal_length = float(args["petal_length"])
    petal_width = model.predict([[petal_length]])[0]
    return {"petal_width": round(float(petal_width), 3)}
