"""What a page's chart drew (``static/plots.js``, uPlot): its series' names and values."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

# uPlot's own data and series of the chart in the element, as drawn (joined x values missing
# from a series come back as None).
_READ = """node => {
  const plot = node.__lakeworksChart && node.__lakeworksChart.plot;
  if (!plot) return null;
  return {
    names: plot.series.slice(1).map(s => s.label),
    data: plot.data.map(column => Array.from(column, v => (v === undefined ? null : v))),
    canvas: [plot.ctx.canvas.width, plot.ctx.canvas.height],
  };
}"""


def plotted(page: Page, selector: str) -> dict[str, Any]:
    """``{"names": [...], "values": {name: [numbers...]}}`` of the chart at ``selector``,
    once it is drawn on a canvas that has a size."""
    expect(page.locator(f"{selector} canvas")).to_be_visible()
    drawn = page.locator(selector).evaluate(_READ)
    assert drawn is not None, f"{selector}: nothing drawn"
    assert min(drawn["canvas"]) > 0, drawn["canvas"]
    values = {
        name: [v for v in column if v is not None]
        for name, column in zip(drawn["names"], drawn["data"][1:], strict=True)
    }
    return {"names": drawn["names"], "values": values, "x": drawn["data"][0]}


# Where browser tests leave screenshots for a person to look at (as test_experiments_browser).
SHOTS = Path(tempfile.gettempdir()) / "lakeworks-screenshots"
