"""The benchmark anchor for grid proposals: PySAL spopt's max-p regionalization.

Reads JSON from stdin: {"region": MultiPolygon coordinates in metres, "households": [[x, y], ...],
"min": floor of households per region, "seed": int}. Each household becomes a unit (its Voronoi
cell clipped to the region, as in cuntu's own method); MaxPHeuristic groups the units into
regions of at least `min` households, compact in x/y. Writes {"labels": [...], "seconds": t}.
"""
import json
import sys
import time

import numpy as np
import geopandas as gpd
from libpysal.cg import voronoi_frames
from libpysal.weights import Rook
from shapely.geometry import shape, Point
from spopt.region import MaxPHeuristic


def main():
    job = json.load(sys.stdin)
    region = shape({"type": "MultiPolygon", "coordinates": job["region"]})
    points = gpd.GeoSeries([Point(x, y) for x, y in job["households"]])
    np.random.seed(job.get("seed", 0))
    started = time.perf_counter()
    cells = voronoi_frames(points, clip=region, return_input=False, as_gdf=True)
    units = gpd.GeoDataFrame({"x": points.x, "y": points.y, "count": 1}, geometry=cells.geometry.values)
    w = Rook.from_dataframe(units, use_index=False, silence_warnings=True)
    model = MaxPHeuristic(units, w, ["x", "y"], "count", job["min"], top_n=2)
    model.solve()
    seconds = time.perf_counter() - started
    json.dump({"labels": [int(l) for l in model.labels_], "seconds": seconds}, sys.stdout)


if __name__ == "__main__":
    main()
