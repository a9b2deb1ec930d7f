import { describe, expect, it } from 'vitest'
import type { FlowGraph } from '../../src/api/types'
import { layoutGraph, nodeKind, parentsOf } from '../../src/lib/graphLayout'

const T = 'io.kestra.core.models.hierarchies.'
const task = (uid: string, id: string, type = 'io.kestra.plugin.core.log.Log') =>
  ({ uid, type: `${T}GraphTask`, task: { id, type } })

// The shape the API answers for: greet, then a ForEach `each` holding `step`, then an errors branch.
const GRAPH: FlowGraph = {
  nodes: [
    { uid: 'root._start', type: `${T}GraphClusterRoot` },
    { uid: 'root._end', type: `${T}GraphClusterEnd` },
    task('root.greet', 'greet'),
    { uid: 'root.each._start', type: `${T}GraphClusterRoot` },
    { uid: 'root.each._end', type: `${T}GraphClusterEnd` },
    task('root.each', 'each', 'io.kestra.plugin.core.flow.ForEach'),
    task('root.each.step', 'step'),
    task('root.errors.on_failure', 'on_failure'),
  ],
  edges: [
    { source: 'root._start', target: 'root.greet', relation: { relationType: 'SEQUENTIAL' } },
    { source: 'root.greet', target: 'root.each._start', relation: { relationType: 'SEQUENTIAL' } },
    { source: 'root.each._start', target: 'root.each', relation: {} },
    { source: 'root.each', target: 'root.each.step', relation: { relationType: 'DYNAMIC' } },
    { source: 'root.each.step', target: 'root.each._end', relation: {} },
    { source: 'root.each._end', target: 'root._end', relation: {} },
    { source: 'root.greet', target: 'root.errors.on_failure', relation: { relationType: 'ERROR' } },
    { source: 'root.greet', target: 'root.nowhere', relation: {} },
  ],
  clusters: [
    {
      cluster: { uid: 'cluster_root.each', type: `${T}GraphCluster`, relationType: 'DYNAMIC', task: { id: 'each', type: 'io.kestra.plugin.core.flow.ForEach' } },
      nodes: ['root.each._start', 'root.each._end', 'root.each', 'root.each.step'],
      parents: [],
      start: 'root.each._start',
      end: 'root.each._end',
    },
    {
      cluster: { uid: 'cluster_root.errors', type: `${T}GraphCluster`, relationType: 'ERROR' },
      nodes: ['root.errors.on_failure'],
      parents: [],
    },
  ],
}

const inside = (inner: { x: number; y: number; width: number; height: number }, outer: typeof inner) =>
  inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.width <= outer.x + outer.width && inner.y + inner.height <= outer.y + outer.height

describe('graph layout adapter', () => {
  it('tells tasks from the start and end marks of clusters', () => {
    expect(GRAPH.nodes.map(nodeKind)).toEqual(['start', 'end', 'task', 'start', 'end', 'task', 'task', 'task'])
  })

  it('puts each node in the deepest cluster that lists it, a nested cluster in its declared parent', () => {
    const nested: FlowGraph = {
      ...GRAPH,
      clusters: [...GRAPH.clusters, { cluster: { uid: 'cluster_inner', type: `${T}GraphCluster` }, nodes: ['root.each.step'], parents: ['cluster_root.each'] }],
    }
    const parents = parentsOf(nested)
    expect(parents.get('root.greet')).toBeUndefined()
    expect(parents.get('root.each')).toBe('cluster_root.each')
    expect(parents.get('root.each.step')).toBe('cluster_inner')
    expect(parents.get('cluster_inner')).toBe('cluster_root.each')
  })

  it('places every node without overlap, children inside their cluster, edges between their ends', async () => {
    const layout = await layoutGraph(GRAPH)
    expect(layout.nodes.map((n) => n.label).sort()).toEqual(
      ['_end', '_end', '_start', '_start', 'each', 'greet', 'on_failure', 'step'].sort(),
    )
    const byUid = new Map(layout.nodes.map((n) => [n.uid, n]))
    const each = layout.clusters.find((c) => c.uid === 'cluster_root.each')
    const errors = layout.clusters.find((c) => c.uid === 'cluster_root.errors')
    expect(each).toMatchObject({ label: 'each', relation: 'DYNAMIC' })
    expect(errors).toMatchObject({ label: 'errors', relation: 'ERROR' })
    expect(inside(byUid.get('root.each.step')!, each!)).toBe(true)
    expect(inside(byUid.get('root.errors.on_failure')!, errors!)).toBe(true)
    expect(inside(byUid.get('root.greet')!, each!)).toBe(false)

    const boxes = layout.nodes
    for (const a of boxes) for (const b of boxes) {
      if (a === b) continue
      const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y
      expect(apart, `${a.uid} overlaps ${b.uid}`).toBe(true)
    }

    // The edge to an unknown node is left out; the others join the borders of their two ends.
    expect(layout.edges).toHaveLength(GRAPH.edges.length - 1)
    const toError = layout.edges.find((e) => e.target === 'root.errors.on_failure')!
    expect(toError.relation).toBe('ERROR')
    const end = toError.points.at(-1)!
    const target = byUid.get('root.errors.on_failure')!
    expect(end.x).toBeGreaterThanOrEqual(target.x - 1)
    expect(end.x).toBeLessThanOrEqual(target.x + target.width + 1)
    expect(end.y).toBeGreaterThanOrEqual(target.y - 1)
    expect(end.y).toBeLessThanOrEqual(target.y + target.height + 1)
    expect(layout.width).toBeGreaterThan(0)
  })
})
