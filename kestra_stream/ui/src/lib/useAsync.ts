// A value loaded from the API: loading, the value, or a readable error; `reload` runs it again.
import { ref, shallowRef, type Ref, type ShallowRef } from 'vue'
import { describeError } from '../api/client'

export interface Async<T> {
  data: ShallowRef<T | null>
  error: Ref<string | null>
  loading: Ref<boolean>
  reload: () => Promise<void>
}

export function useAsync<T>(load: () => Promise<T>): Async<T> {
  const data = shallowRef<T | null>(null)
  const error = ref<string | null>(null)
  const loading = ref(false)
  let generation = 0
  async function reload(): Promise<void> {
    const mine = ++generation
    loading.value = true
    try {
      const value = await load()
      if (mine !== generation) return
      data.value = value
      error.value = null
    } catch (err) {
      if (mine !== generation) return
      error.value = describeError(err)
    } finally {
      if (mine === generation) loading.value = false
    }
  }
  void reload()
  return { data, error, loading, reload }
}
