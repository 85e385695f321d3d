"""Steps of a batch as people do them, shared by the batch record's tests."""
from __future__ import annotations

from typing import Any

LOTS = {"MAT-PARA": "L-PARA-2601", "MAT-LAC": "L-LAC-2603", "MAT-PVP": "L-PVP-2601", "MAT-MGST": "L-MGST-2601"}
# kg on the scale per material: magnesium stearate out of tolerance (1.000 ± 0.020 kg)
WEIGHTS = {"MAT-PARA": 50.1, "MAT-LAC": 44.8, "MAT-PVP": 4.01, "MAT-MGST": 1.05}


def sign_order_and_clear_line(plant: Any, batch: int) -> None:
    plant.complete("sam", batch, "sign_order", {"planned_date": "2026-12-04"}, meanings=("approved",))
    plant.complete("alice", batch, "line_clearance", {
        "room": "Dispensary 001", "previous_product_removed": True, "previous_documents_removed": True,
        "equipment_clean": True, "area_clean": True}, meanings=("performed",))
    plant.complete("victor", batch, "verify_clearance", {"line_clear": True}, meanings=("verified",))


def dispensing_rows(plant: Any, batch: int, lots: dict[str, str] | None = None,
                    weights: dict[str, float] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, str]]:
    """One row per BOM line, each net weight captured from the scale; the comment for rows outside tolerance."""
    lots, weights = {**LOTS, **(lots or {})}, {**WEIGHTS, **(weights or {})}
    bom = plant.data(batch)["bom"]
    rows, captured, comments = [], {}, {}
    for index, line in enumerate(bom):
        material = line["material"]
        rows.append({"material": material, "lot": lots[material], "target": line["target"],
                     "tolerance": line["tolerance"]})
        captured[f"dispensing.{index}.net"] = plant.weigh(batch, weights[material])
        if abs(weights[material] - line["target"]) > line["tolerance"]:
            comments[f"dispensing.{index}.net"] = "container residue; QA to assess"
    return rows, captured, comments


def dispense(plant: Any, batch: int, **kwargs: Any) -> None:
    rows, captured, comments = dispensing_rows(plant, batch, **kwargs)
    plant.complete("alice", batch, "dispense", {"dispensing": rows}, meanings=("performed",),
                   verifier=("victor", "verified"), captured=captured, exceptions=comments)


def phase(plant: Any, batch: int, key: str, value: float, user: str = "alice") -> Any:
    field = {"granulation": "impeller_speed", "drying": "inlet_temp"}[key]
    plant.complete(user, batch, f"set_{key}", {field: value}, meanings=("performed",))
    return plant.run_scheduler()


def finish_production(plant: Any, batch: int, lod: float = 1.2, output: float = 98.5) -> None:
    ipc = {"ipc_results": {"loss_on_drying": lod, "sample_id": "IPC-1"}}
    plant.complete("alice", batch, "ipc", ipc, meanings=("performed",),
                   exceptions={"ipc_results.loss_on_drying": "retest requested"} if lod > 2 else None)
    plant.complete("alice", batch, "yield_entry", {"output_kg": output}, meanings=("performed",))
    plant.complete("sam", batch, "production_review", {"record_complete": True, "review_comment": "complete"},
                   meanings=("reviewed",))


def qa_review(plant: Any, batch: int, references: list[str]) -> None:
    plant.complete("quinn", batch, "qa_review", {
        "assessments": [{"exception_ref": ref, "assessment": "assessed: no impact on quality", "decision": "accepted"}
                        for ref in references],
        "changes_reviewed": True, "qa_comment": "reviewed by exception"}, meanings=("approved",))


def run_to_qa_approval(plant: Any, batch: int) -> None:
    sign_order_and_clear_line(plant, batch)
    dispense(plant, batch)
    phase(plant, batch, "granulation", 150)
    phase(plant, batch, "drying", 60)
    finish_production(plant, batch)
    with plant.db.session() as session:
        from bpmn.batch_record.review import review_items

        references = [item.reference for item in review_items(session, batch)]
    qa_review(plant, batch, references)
