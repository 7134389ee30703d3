"""The benchmark anchors for visit routes: VROOM (pyvroom) and a proven optimum (OR-Tools CP-SAT).

Reads JSON from stdin: {"instances": [{"matrix": [[metres, ...], ...]}, ...], "time_limit": s}.
Index 0 of each matrix is the start; a route is an open path from it through every other index,
ending anywhere (a vehicle with a start and no end). Both solvers see the same matrix in whole
centimetres (they take integers).

Writes {"results": [{"vroom": {"order": [...], "seconds": t},
                     "optimum": {"order": [...], "seconds": t, "proven": bool, "bound_m": b,
                                 "objective_m": o}}, ...]}
where each order lists matrix indices after the start. VROOM runs at exploration level 5 on one
thread; CP-SAT (8 workers, linearization level 2 for the circuit's LP cuts, VROOM's answer as a
hint) stops at the time limit, and "proven" says whether it proved optimality.
ROUTE_ANCHOR_LOG=1 prints CP-SAT's search log on stderr.
"""
import json
import os
import sys
import time

import vroom
from ortools.sat.python import cp_model


def centimetres(matrix):
    return [[int(round(100.0 * d)) for d in row] for row in matrix]


def solve_vroom(matrix):
    n = len(matrix)
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=matrix)
    problem.add_vehicle(vroom.Vehicle(id=1, start=0, profile="car"))
    problem.add_job([vroom.Job(id=i, location=i) for i in range(1, n)])
    started = time.perf_counter()
    solution = problem.solve(exploration_level=5, nb_threads=1)
    seconds = time.perf_counter() - started
    routes = solution.routes
    order = [int(i) for i in routes[routes["type"] == "job"]["location_index"]]
    return {"order": order, "seconds": seconds}



def solve_optimum(matrix, time_limit, hint):
    """An open path from 0 as a circuit through a dummy end node `n` (free to reach, free back to 0)."""
    n = len(matrix)
    model = cp_model.CpModel()
    arcs = []
    cost = []
    x = {}
    for i in range(n):
        for j in range(1, n):
            if i != j:
                x[i, j] = model.NewBoolVar(f"x{i}_{j}")
                arcs.append((i, j, x[i, j]))
                cost.append(matrix[i][j] * x[i, j])
        if i != 0 or n == 1:
            x[i, n] = model.NewBoolVar(f"x{i}_end")
            arcs.append((i, n, x[i, n]))
    x[n, 0] = model.NewBoolVar("back")
    arcs.append((n, 0, x[n, 0]))
    model.AddCircuit(arcs)
    model.Minimize(sum(cost))
    if hint:
        path = [0] + hint + [n]
        used = set(zip(path, path[1:])) | {(n, 0)}
        for key, var in x.items():
            model.AddHint(var, 1 if key in used else 0)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.log_search_progress = bool(os.environ.get("ROUTE_ANCHOR_LOG"))
    solver.parameters.num_workers = 8
    solver.parameters.linearization_level = 2
    started = time.perf_counter()
    status = solver.Solve(model)
    seconds = time.perf_counter() - started
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return {"order": None, "seconds": seconds, "proven": False, "bound_m": None}
    succ = {i: j for (i, j), var in x.items() if solver.Value(var)}
    order, at = [], succ[0]
    while at != n:
        order.append(at)
        at = succ[at]
    return {
        "order": order,
        "seconds": seconds,
        "proven": status == cp_model.OPTIMAL,
        "bound_m": solver.BestObjectiveBound() / 100.0,
        "objective_m": solver.ObjectiveValue() / 100.0,
    }


def main():
    job = json.load(sys.stdin)
    results = []
    for instance in job["instances"]:
        matrix = centimetres(instance["matrix"])
        ours = solve_vroom(matrix)
        best = solve_optimum(matrix, job.get("time_limit", 10), ours["order"])
        results.append({"vroom": ours, "optimum": best})
        print(f"anchor: instance {len(results)} of {len(job['instances'])}", file=sys.stderr)
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
