/**
 * Draws a pipeline DAG as a standalone SVG, without a layout library:
 *
 * 1. layers by longest path from the sources (a node sits one layer below its deepest input);
 * 2. an edge that spans several layers gets one invisible "dummy" point per layer it crosses, so it
 *    bends around the boxes in between instead of running through them;
 * 3. the order inside each layer comes from barycenter sweeps (down, then up), keeping the order with
 *    the fewest edge crossings;
 * 4. x positions: each node is pulled towards the mean x of its neighbours in the layer above (then
 *    below), and the closest positions that keep the boxes apart are found exactly (isotonic
 *    regression by pool-adjacent-violators);
 * 5. edges are cubic curves that leave a box's bottom and enter the next box's top vertically, ending
 *    in an arrowhead drawn as a triangle (no `<marker>`, so no ids that could clash in a page).
 *
 * Files: graph.ts (checks, topological order), ordering.ts (step 3), placement.ts (step 4),
 * layout.ts (the steps together, ports and edge points), svg.ts (step 5), geometry.ts (sizes).
 *
 * Everything is a pure function of the input: same nodes and edges, same SVG.
 */
export { type DagInput, type DagLayout, type DagNode, dagLayout, type PlacedEdge, type PlacedNode } from "./dag-layout.js"
export { separatedPositions } from "./placement.js"
export { dagSvg, layoutSvg } from "./svg.js"
