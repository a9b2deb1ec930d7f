// Monaco, its workers (bundled by Vite: the UI must work without internet) and monaco-yaml bound
// to the JSON Schema of a whole flow, fetched once from the server.
import * as monaco from 'monaco-editor'
import { configureMonacoYaml, type MonacoYaml } from 'monaco-yaml'
import EditorWorker from 'monaco-editor/esm/vs/editor/editor.worker.js?worker'
import YamlWorker from './yaml.worker.ts?worker'
import { API, getJson } from '../api/client'
import { theme } from '../lib/theme'
import { watch } from 'vue'

export { monaco }

export const FLOW_MODEL_PREFIX = 'file:///flows/'

declare global {
  interface Window {
    MonacoEnvironment?: monaco.Environment
  }
}

window.MonacoEnvironment = {
  getWorker(_moduleId: string, label: string): Worker {
    return label === 'yaml' ? new YamlWorker() : new EditorWorker()
  },
}

let yaml: MonacoYaml | null = null
let schemaLoad: Promise<void> | null = null

/** Binds the flow schema once; the editor works (without completion) if the schema cannot load. */
export function ensureFlowSchema(): Promise<void> {
  if (schemaLoad) return schemaLoad
  schemaLoad = getJson<Record<string, unknown>>(`${API}/plugins/schemas/flow`)
    .then((schema) => {
      const options = {
        enableSchemaRequest: false,
        hover: true,
        completion: true,
        // Problems come from the server (the validate endpoint) only: one source, one message each.
        validate: false,
        schemas: [{ uri: `${window.location.origin}${API}/plugins/schemas/flow`, fileMatch: [`${FLOW_MODEL_PREFIX}*`], schema }],
      }
      if (yaml) yaml.update(options)
      else yaml = configureMonacoYaml(monaco, options)
    })
    .catch((err: unknown) => {
      schemaLoad = null
      throw err
    })
  return schemaLoad
}

function applyTheme(): void {
  monaco.editor.setTheme(theme.value === 'dark' ? 'vs-dark' : 'vs')
}
watch(theme, applyTheme, { immediate: true })
