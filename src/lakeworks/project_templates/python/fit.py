# Train a model that predicts petal width from petal length, and save it to model.pkl.
#
# Arguments (optional): the share of rows held out to test the model, e.g. `0.2`.

import pickle
import sys

import cdsw
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split

test_size = float(sys.argv[1]) if len(sys.argv) > 1 else 0.3

iris = load_iris()
lengths = iris.data[:, [2]]  # petal length (cm)
widths = iris.data[:, 3]  # petal width (cm)
train_x, test_x, train_y, test_y = train_test_split(
    lengths, widths, test_size=test_size, random_state=42
)

model = LinearRegression().fit(train_x, train_y)
r2 = model.score(test_x, test_y)
print(f"R² on {len(test_y)} held-out rows: {r2:.3f}")

# Shown with the run when this runs as an experiment or a job.
cdsw.track_metric("R2", round(r2, 4))
cdsw.track_metric("test_size", test_size)

with open("model.pkl", "wb") as handle:
    pickle.dump(model, handle)
print("saved model.pkl")
