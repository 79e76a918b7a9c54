"""The landmark morph (default method) and the helpers only it uses.

`method` holds `MorphMethod`; `warp` the piecewise-affine warper, `colour`
the colour harmonisation, `paths` the smooth keyframe paths. Importing the
package registers the method.
"""

from __future__ import annotations

from pipeline.methods.morph.method import MORPH_POINTS, MorphMethod

__all__ = ["MORPH_POINTS", "MorphMethod"]
