"""Measure the latency profile of the default pair (or DUOLAB_TARGET/DUOLAB_DRAFT) on this machine.

    python scripts/profile_pair.py                  # -> data/profiles/<name>.json
    python scripts/profile_pair.py --name h100-cpu16 --target-device cuda
    python scripts/profile_pair.py --quick --out data/real_pair/profile-cpu-2core.json   # anywhere else
"""

from __future__ import annotations

import argparse

from duolab.measure.profiling import profile_pair
from duolab.models import load_pair
from duolab.paths import DATA_DIR
from duolab.predict.budget import equal_time_budget


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--name", default="cpu-2core", help="file stem under data/profiles/")
    ap.add_argument("--target-device", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None, help="write here instead of data/profiles/<name>.json")
    args = ap.parse_args()
    with load_pair(target_device=args.target_device) as pair:
        profile = profile_pair(pair, quick=args.quick)
    path = profile.save(args.out or DATA_DIR / "profiles" / f"{args.name}.json")
    t = profile.target_forward_ms
    print(f"target T_t(n) ms: n=1 {t[0]:.2f}, 2 {t[1]:.2f}, 4 {t[3]:.2f}, 8 {t[7]:.2f}, "
          f"16 {t[15]:.2f}, 32 {t[31]:.2f}, 64 {t[63]:.2f}")
    print("prefill ms:", {k: round(v, 2) for k, v in profile.prefill_ms.items()})
    print(f"duo draft: {profile.draft_ms_per_token:.3f} ms/token + {profile.draft_overhead_ms:.2f} ms "
          f"per request; sps draft (in process): {profile.sps_draft_ms_per_token:.3f} ms/token")
    print(f"channel round trip {profile.channel_ms:.3f} ms; sync {profile.sync_ms:.3f} ms")
    print(f"T_t(1) / t_d = {t[0] / profile.draft_ms_per_token:.1f}; "
          f"equal-time budget = {equal_time_budget(profile)}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
