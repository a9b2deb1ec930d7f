// Kestra's FlowGraph (nodes, edges, clusters) laid out by ELK into absolute boxes and polylines
// that the topology component draws in SVG. Clusters (flowable tasks, errors/finally branches,
// triggers) become compound nodes, so their children are drawn inside them.

import ELK from 'elkjs/lib/elk.bundled.js'
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api'
import type { FlowGraph, GraphClusterEntry, GraphNode } from '../api/types'

export type NodeKind = 'task' | 'trigger' | 'start' | 'end' | 'other'

export interface PlacedNode {
  uid: string
  kind: NodeKind
  label: string
  type: string | null
  x: number
  y: number
  width: number
  height: number
}

export interface PlacedCluster {
  uid: string
  label: string
  /** ERRORS, FINALLY, PARALLEL, CHOICE, DYNAMIC... as the API's relationType says. */
  relation: string | null
  x: number
  y: number
  width: number
  height: number
  depth: number
}

export interface PlacedEdge {
  id: string
  source: string
  target: string
  relation: string | null
  label: string | null
  points: { x: number; y: number }[]
}

export interface Layout {
  width: number
  height: number
  nodes: PlacedNode[]
  clusters: PlacedCluster[]
  edges: PlacedEdge[]
}

const TASK = { width: 190, height: 48 }
const MARK = { width: 16, height: 16 }

export function nodeKind(node: GraphNode): NodeKind {
  const type = node.type
  if (type.endsWith('GraphClusterRoot') || type.endsWith('GraphTriggerRoot')) return 'start'
  if (type.endsWith('GraphClusterEnd') || type.endsWith('GraphTriggerEnd')) return 'end'
  if (type.endsWith('GraphTrigger') || node.trigger || node.triggerDeclaration) return 'trigger'
  if (node.task) return 'task'
  return 'other'
}

export function nodeLabel(node: GraphNode): string {
  const declared = node.task ?? node.trigger ?? node.triggerDeclaration
  if (declared?.id) return declared.id
  const last = node.uid.split('.').pop() ?? node.uid
  return last
}

function clusterLabel(entry: GraphClusterEntry): string {
  const cluster = entry.cluster
  if (cluster.task?.id) return cluster.task.id
  const last = cluster.uid.split('.').pop() ?? cluster.uid
  // Branch clusters are named after what they hold (errors, finally, then, else, triggers).
  return last.replace(/^cluster_/, '').replace(/-[A-Za-z0-9]{10,}$/, '')
}

/** Which cluster holds each node and each cluster: the deepest one that lists it. */
export function parentsOf(graph: FlowGraph): Map<string, string> {
  const depth = new Map<string, number>()
  for (const entry of graph.clusters) depth.set(entry.cluster.uid, entry.parents?.length ?? 0)
  const parent = new Map<string, string>()
  for (const entry of graph.clusters) {
    const own = entry.cluster.uid
    const members = new Set(entry.nodes)
    if (entry.start) members.add(entry.start)
    if (entry.end) members.add(entry.end)
    for (const uid of members) {
      if (uid === own) continue
      const current = parent.get(uid)
      if (current === undefined || (depth.get(current) ?? 0) < (depth.get(own) ?? 0)) parent.set(uid, own)
    }
  }
  for (const entry of graph.clusters) {
    const declared = entry.parents?.at(-1)
    if (declared && declared !== entry.cluster.uid) parent.set(entry.cluster.uid, declared)
  }
  return parent
}

/** The edges whose two ends are drawn: ELK refuses an edge to a node it does not know. */
export function drawnEdges(graph: FlowGraph): FlowGraph['edges'] {
  const known = new Set([...graph.nodes.map((n) => n.uid), ...graph.clusters.map((c) => c.cluster.uid)])
  return graph.edges.filter((e) => known.has(e.source) && known.has(e.target))
}

export function toElk(graph: FlowGraph): ElkNode {
  const parent = parentsOf(graph)
  const elkNodes = new Map<string, ElkNode>()
  const root: ElkNode = {
    id: '__root__',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.layered.spacing.nodeNodeBetweenLayers': '36',
      'elk.spacing.nodeNode': '22',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
    },
    children: [],
    edges: [],
  }
  for (const entry of graph.clusters) {
    elkNodes.set(entry.cluster.uid, {
      id: entry.cluster.uid,
      labels: [{ text: clusterLabel(entry), width: 120, height: 16 }],
      layoutOptions: { 'elk.padding': '[top=28,left=14,bottom=14,right=14]' },
      children: [],
    })
  }
  const clusterUids = new Set(graph.clusters.map((c) => c.cluster.uid))
  for (const node of graph.nodes) {
    if (clusterUids.has(node.uid)) continue
    const kind = nodeKind(node)
    const size = kind === 'start' || kind === 'end' ? MARK : TASK
    elkNodes.set(node.uid, { id: node.uid, ...size })
  }
  for (const [uid, elkNode] of elkNodes) {
    const holder = elkNodes.get(parent.get(uid) ?? '') ?? root
    holder.children = [...(holder.children ?? []), elkNode]
  }
  root.edges = drawnEdges(graph).map((e, i) => ({ id: `e${i}`, sources: [e.source], targets: [e.target] }))
  return root
}

interface Flattened {
  nodes: Map<string, { x: number; y: number; width: number; height: number; depth: number }>
}

function flatten(node: ElkNode, depth: number, into: Flattened): void {
  for (const child of node.children ?? []) {
    into.nodes.set(child.id, {
      x: child.x ?? 0,
      y: child.y ?? 0,
      width: child.width ?? 0,
      height: child.height ?? 0,
      depth,
    })
    flatten(child, depth + 1, into)
  }
}

const elk = new ELK()

export async function layoutGraph(graph: FlowGraph): Promise<Layout> {
  const laid = await elk.layout(toElk(graph))
  const flat: Flattened = { nodes: new Map() }
  flatten(laid, 0, flat)
  const kept = drawnEdges(graph)
  const nodes: PlacedNode[] = []
  for (const node of graph.nodes) {
    const box = flat.nodes.get(node.uid)
    if (!box || graph.clusters.some((c) => c.cluster.uid === node.uid)) continue
    nodes.push({
      uid: node.uid,
      kind: nodeKind(node),
      label: nodeLabel(node),
      type: (node.task ?? node.trigger ?? node.triggerDeclaration)?.type ?? null,
      x: box.x,
      y: box.y,
      width: box.width,
      height: box.height,
    })
  }
  const clusters: PlacedCluster[] = graph.clusters.flatMap((entry) => {
    const box = flat.nodes.get(entry.cluster.uid)
    if (!box) return []
    return [{
      uid: entry.cluster.uid,
      label: clusterLabel(entry),
      relation: entry.cluster.relationType ?? entry.cluster.branchType ?? null,
      ...box,
    }]
  })
  clusters.sort((a, b) => a.depth - b.depth)
  const edges: PlacedEdge[] = (laid.edges ?? []).map((edge) => {
    const section = (edge as ElkExtendedEdge).sections?.[0]
    const points = section ? [section.startPoint, ...(section.bendPoints ?? []), section.endPoint] : []
    const source = kept[Number(edge.id.slice(1))]
    return {
      id: edge.id,
      source: (edge as ElkExtendedEdge).sources[0] ?? '',
      target: (edge as ElkExtendedEdge).targets[0] ?? '',
      relation: source?.relation?.relationType ?? null,
      label: source?.relation?.value ?? null,
      points,
    }
  })
  return { width: laid.width ?? 0, height: laid.height ?? 0, nodes, clusters, edges }
}
