// monaco-yaml's worker, re-exported from a file of ours so Vite bundles it as a worker of the app
// (referencing the package's file directly breaks its foreign-module loading under Vite).
import 'monaco-yaml/yaml.worker.js'
