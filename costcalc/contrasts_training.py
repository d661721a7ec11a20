"""The transfer-learning report (issue 13): what feature extraction, fine-tuning the top block
and full training cost per step and per epoch, for five pretrained bases with a new 5-class
head. Numbers from costcalc.training.train; prose in costcalc/templates/transfer-learning.md;
tests/test_training.py checks the data."""
from __future__ import annotations

from . import mermaid
from .contrasts import contrast, md
from .contrasts_2017 import fill, x
from .render import human, human_bytes
from .training import parse_bytes, train

BATCH, SAMPLES, CLASSES = 32, 10_000, 5
MEMORY = "16GiB"
# (spec, the top block as Keras's fine-tuning examples choose it, the head)
BASES = [
    ("resnet50", {"trainable": ["conv5_block3*", "avg_pool", "predictions"]},
     {"trainable_from": "avg_pool"}),
    ("inception-v3", {"trainable": ["mixed9*", "mixed10*", "avg_pool", "predictions"]},
     {"trainable_from": "avg_pool"}),
    ("xception", {"trainable": ["block14*", "avg_pool", "predictions"]},
     {"trainable_from": "avg_pool"}),
    ("mobilenet", {"trainable_from": "conv_dw_13"}, {"trainable_from": "conv_preds"}),
    ("vgg16", {"trainable_from": "block5_conv1"}, {"trainable_from": "fc1"}),
]
MODES = ("feature extraction", "fine-tune the top block", "full training")


def transfer_data() -> dict:
    limit = parse_bytes(MEMORY)
    out = []
    for name, top, head in BASES:
        rows = {}
        for mode, sel in zip(MODES, (head, top, {})):
            r = train(name, {"classes": CLASSES}, batch=BATCH, samples=SAMPLES, memory=limit,
                      **sel)
            rows[mode] = {"selection": sel, "trainable_params": r.totals["trainable_params"],
                          "step_macs": r.totals["forward_macs"] + r.totals["backward_macs"],
                          "backward_macs": r.totals["backward_macs"],
                          "step_flops": r.totals["step_flops"],
                          "epoch_flops": r.totals["epoch_flops"], "steps": r.totals["steps"],
                          "peak": r.memory["peak"], "largest_batch": r.memory["largest_batch"],
                          "memory": {k: r.memory[k] for k in ("weights", "gradients",
                                                               "optimizer_state",
                                                               "saved_activations")}}
        out.append({"spec": name, "modes": rows})
    return {"batch": BATCH, "samples": SAMPLES, "classes": CLASSES, "memory": limit,
            "nets": out}


@contrast("transfer-learning.md", "Transfer learning: feature extraction, fine-tuning, full "
                                  "training")
def transfer_learning():
    d = transfer_data()
    rows = []
    for net in d["nets"]:
        full = net["modes"]["full training"]
        for mode in MODES:
            m = net["modes"][mode]
            sel = ", ".join(f"--{k.replace('_', '-')} {' --trainable '.join(v) if isinstance(v, list) else v}"
                            for k, v in m["selection"].items()) or "(all)"
            rows.append([net["spec"], mode, sel, m["trainable_params"], m["step_macs"],
                         human(m["step_flops"]), human(m["epoch_flops"]),
                         x(m["step_flops"], full["step_flops"]), human_bytes(m["peak"]),
                         f"{m['largest_batch']:,}"])
    table = md(["base", "mode", "trainable layers", "trainable params",
                f"MACs per step (batch {d['batch']})", "FLOPs per step",
                f"FLOPs per epoch ({d['samples']:,} images)", "FLOPs vs full training",
                "peak memory", f"largest batch in {MEMORY}"], rows)
    chart = mermaid.bar_chart(
        "FLOPs per step as a share of full training (%)",
        [f"{n['spec']} {k}" for n in d["nets"] for k in ("FE", "top")],
        [round(100 * n["modes"][mode]["step_flops"] / n["modes"]["full training"]["step_flops"],
               1) for n in d["nets"] for mode in MODES[:2]], "% of full training", zero=True)
    mem = md(["base", "mode", "weights", "gradients", "saved activations", "peak"],
             [[n["spec"], mode, human_bytes(n["modes"][mode]["memory"]["weights"]),
               human_bytes(n["modes"][mode]["memory"]["gradients"]),
               human_bytes(n["modes"][mode]["memory"]["saved_activations"]),
               human_bytes(n["modes"][mode]["peak"])]
              for n in d["nets"] for mode in (MODES[0], MODES[2])])
    mob = next(n for n in d["nets"] if n["spec"] == "mobilenet")["modes"]
    vgg = next(n for n in d["nets"] if n["spec"] == "vgg16")["modes"]
    return fill("transfer-learning.md", table=table, chart=chart, mem=mem, batch=d["batch"],
                samples=f"{d['samples']:,}", classes=d["classes"], memory=MEMORY,
                mob_fe=x(mob["feature extraction"]["step_flops"],
                         mob["full training"]["step_flops"]),
                vgg_fe_params=f"{vgg['feature extraction']['trainable_params']:,}",
                vgg_fe=x(vgg["feature extraction"]["step_flops"],
                         vgg["full training"]["step_flops"]))
