# # A quick analysis
#
# Run this file in a workbench session (*Run file*, or a line at a time). Comments that
# start a line with `# ` are shown as text between the outputs, like this one.

import pandas as pd
from sklearn.datasets import load_iris

# ## Load the data
#
# The iris measurements ship with scikit-learn, so nothing is downloaded.

iris = load_iris(as_frame=True)
flowers = iris.frame.rename(columns=lambda name: name.replace(" (cm)", "").replace(" ", "_"))
flowers = flowers.drop(columns="target")
flowers["species"] = iris.target_names[iris.target]
print(flowers.head())

# ## Summaries
#
# The mean of each measurement, per species.

summary = flowers.groupby("species").mean(numeric_only=True).round(2)
print(summary)

# ## A chart
#
# In a session the chart is shown below; in a job it is saved as `petals.png`.

import matplotlib
import matplotlib.pyplot as plt

figure, axes = plt.subplots()
for species, rows in flowers.groupby("species"):
    axes.scatter(rows["petal_length"], rows["petal_width"], label=species, s=12)
axes.set_xlabel("petal length (cm)")
axes.set_ylabel("petal width (cm)")
axes.legend()
if matplotlib.get_backend().lower() == "agg":
    figure.savefig("petals.png")
else:
    plt.show()

# ## Shell commands
#
# A line starting with `!` runs in a shell; `$VAR` and `{expression}` are filled in first.

rows = len(flowers)
!echo "{rows} rows analysed in project $CDSW_PROJECT"
!ls
