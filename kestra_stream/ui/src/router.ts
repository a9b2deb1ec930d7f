import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  { path: '/', redirect: '/dashboard' },
  { path: '/flows', name: 'flows', component: () => import('./views/FlowsList.vue') },
  { path: '/flows/new', name: 'flow-new', component: () => import('./views/FlowCreate.vue') },
  {
    path: '/flows/:namespace/:id',
    component: () => import('./views/FlowPage.vue'),
    props: true,
    children: [
      { path: '', name: 'flow', redirect: (to) => ({ name: 'flow-overview', params: to.params }) },
      { path: 'overview', name: 'flow-overview', component: () => import('./views/FlowOverview.vue') },
      { path: 'edit', name: 'flow-edit', component: () => import('./views/FlowEdit.vue') },
      { path: 'revisions', name: 'flow-revisions', component: () => import('./views/FlowRevisions.vue') },
      { path: 'executions', name: 'flow-executions', component: () => import('./views/FlowExecutions.vue') },
    ],
  },
  { path: '/executions', name: 'executions', component: () => import('./views/ExecutionsList.vue') },
  { path: '/executions/:id', name: 'execution', component: () => import('./views/ExecutionPage.vue'), props: true },
  { path: '/plugins/:type?', name: 'plugins', component: () => import('./views/PluginsPage.vue'), props: true },
  { path: '/dashboard', name: 'dashboard', component: () => import('./views/Dashboard.vue') },
  { path: '/triggers', name: 'triggers', component: () => import('./views/TriggersPage.vue') },
  { path: '/namespaces', name: 'namespaces', component: () => import('./views/NamespacesList.vue') },
  { path: '/namespaces/:namespace', name: 'namespace', component: () => import('./views/NamespacePage.vue'), props: true },
  { path: '/logs', name: 'logs', component: () => import('./views/LogsPage.vue') },
  { path: '/:pathMatch(.*)*', name: 'not-found', component: () => import('./views/NotFound.vue') },
]

export const router = createRouter({ history: createWebHistory('/ui/'), routes })
