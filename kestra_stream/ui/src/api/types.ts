// The shapes of the REST API that the UI reads (Kestra's JSON, as kestra-stream serves it).

export interface Label {
  key: string
  value: string
}

export interface FlowInput {
  id: string
  type: string
  description?: string | null
  displayName?: string | null
  required?: boolean
  defaults?: unknown
  prefill?: unknown
  values?: string[] | null
  options?: string[] | null
  itemType?: string | null
  min?: number | string | null
  max?: number | string | null
  minLength?: number | null
  maxLength?: number | null
  validator?: string | null
  allowedFileExtensions?: string[] | null
  allowCustomValue?: boolean
  isRadio?: boolean
  after?: string | null
  before?: string | null
}

export interface TaskLike {
  id: string
  type: string
  description?: string | null
  [key: string]: unknown
}

export interface Flow {
  id: string
  namespace: string
  revision: number
  description?: string | null
  labels?: Label[] | null
  inputs?: FlowInput[] | null
  tasks?: TaskLike[]
  triggers?: TaskLike[] | null
  disabled: boolean
  deleted: boolean
  source?: string
}

export interface PagedResults<T> {
  results: T[]
  total: number
}

export interface StateHistory {
  state: string
  date: string
}

export interface State {
  current: string
  histories: StateHistory[]
}

export interface TaskRun {
  id: string
  taskId: string
  parentTaskRunId?: string | null
  value?: string | null
  iteration?: number | null
  // logFile: the kestra:// URI of the attempt's log lines when its task has logToFile.
  attempts?: { state: State; logFile?: string | null }[] | null
  state: State
  outputs?: Record<string, unknown> | null
}

export interface Execution {
  id: string
  namespace: string
  flowId: string
  flowRevision: number
  inputs?: Record<string, unknown> | null
  outputs?: Record<string, unknown> | null
  labels?: Label[] | null
  state: State
  taskRunList?: TaskRun[] | null
  // logFile: the kestra:// URI of the lines of the evaluation that started it, when its trigger has logToFile.
  trigger?: { id: string; type: string; variables?: Record<string, unknown> | null; logFile?: string | null } | null
  parent?: { executionId: string; taskrunId: string; namespace: string; flowId: string } | null
  originalId?: string | null
  scheduleDate?: string | null
}

export interface Violation {
  message: string
  path?: string | null
  line?: number | null
  column?: number | null
}

export interface ValidateResult {
  index: number
  flow?: string | null
  namespace?: string | null
  constraints?: string | null
  violations?: Violation[]
  warnings?: string[]
  deprecationPaths?: string[]
}

export interface PluginSummary {
  type: string
  shortName: string
  aliases: string[]
  kind: string
  title?: string | null
  deprecated: boolean
}

export interface PluginDetail extends PluginSummary {
  markdown?: string | null
  examples?: string[]
  schema: Record<string, unknown>
}

export interface GraphNode {
  uid: string
  type: string
  task?: TaskLike | null
  trigger?: TaskLike | null
  triggerDeclaration?: TaskLike | null
  relationType?: string | null
  branchType?: string | null
}

export interface GraphEdge {
  source: string
  target: string
  relation?: { relationType?: string | null; value?: string | null } | null
}

export interface GraphClusterEntry {
  cluster: GraphNode
  nodes: string[]
  parents?: string[]
  start?: string | null
  end?: string | null
}

export interface FlowGraph {
  nodes: GraphNode[]
  edges: GraphEdge[]
  clusters: GraphClusterEntry[]
}

