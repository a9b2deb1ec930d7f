import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import type { FlowInput } from '../../src/api/types'
import { fieldOf, fieldOfError, fieldsOf, initialValues, missingRequired, toFormData } from '../../src/lib/inputsForm'
import InputField from '../../src/components/InputField.vue'

const INPUTS: FlowInput[] = [
  { id: 'who', type: 'STRING', defaults: 'World', required: true },
  { id: 'count', type: 'INT', min: 1, max: 9, required: true },
  { id: 'ratio', type: 'FLOAT', required: false },
  { id: 'loud', type: 'BOOLEAN', defaults: true },
  { id: 'color', type: 'SELECT', values: ['red', 'green'], required: true },
  { id: 'shape', type: 'ENUM', values: ['dot', 'line'], isRadio: true, required: false },
  { id: 'tags', type: 'MULTISELECT', values: ['a', 'b', 'c'], defaults: ['b'] },
  { id: 'data', type: 'FILE', allowedFileExtensions: ['csv', '.txt'], required: true },
  { id: 'config', type: 'JSON', defaults: { k: 1 } },
  { id: 'at', type: 'DATETIME', defaults: '2024-01-31T12:30:00Z', required: false },
  { id: 'day', type: 'DATE', required: false },
  { id: 'pw', type: 'SECRET', required: false },
  { id: 'mail', type: 'EMAIL', required: false },
  { id: 'unknown', type: 'SOMETHING_NEW', required: false },
]

describe('the Run form generated from inputs', () => {
  it('gives every input type the widget it needs', () => {
    expect(fieldsOf(INPUTS).map((f) => [f.id, f.widget])).toEqual([
      ['who', 'text'], ['count', 'number'], ['ratio', 'number'], ['loud', 'checkbox'], ['color', 'select'],
      ['shape', 'radio'], ['tags', 'multiselect'], ['data', 'file'], ['config', 'textarea'], ['at', 'datetime'],
      ['day', 'date'], ['pw', 'password'], ['mail', 'email'], ['unknown', 'text'],
    ])
  })

  it('starts from the declared defaults, in the shape each widget holds', () => {
    const values = initialValues(fieldsOf(INPUTS))
    expect(values).toMatchObject({ who: 'World', count: '', loud: true, tags: ['b'], data: null })
    expect(new Date(values.at as string).getTime()).toBe(Date.parse('2024-01-31T12:30:00Z'))
    expect(values.config).toBe('{\n  "k": 1\n}')
  })

  it('carries bounds, steps and accepted file extensions to the field', () => {
    const count = fieldOf(INPUTS[1]!)
    expect([count.min, count.max, count.step]).toEqual(['1', '9', '1'])
    expect(fieldOf(INPUTS[2]!).step).toBe('any')
    expect(fieldOf(INPUTS[7]!).accept).toBe('.csv,.txt')
  })

  it('an input with a default is not required, one without is unless it says otherwise', () => {
    const fields = fieldsOf(INPUTS)
    expect(fields.filter((f) => f.required).map((f) => f.id)).toEqual(['count', 'color', 'data'])
    expect(missingRequired(fields, initialValues(fields))).toEqual({
      count: 'count is required', color: 'color is required', data: 'data is required',
    })
  })

  it('sends a file as an uploaded part, booleans always, lists as JSON, and leaves empty optional fields out', () => {
    const fields = fieldsOf(INPUTS)
    const file = new File(['a,b'], 'rows.csv', { type: 'text/csv' })
    const form = toFormData(fields, { ...initialValues(fields), count: '3', color: 'red', data: file, tags: ['a', 'c'] })
    expect(form.get('who')).toBe('World')
    expect(form.get('count')).toBe('3')
    expect(form.get('loud')).toBe('true')
    expect(form.get('tags')).toBe('["a","c"]')
    expect((form.get('data') as File).name).toBe('rows.csv')
    expect(form.has('ratio')).toBe(false)
    expect(form.has('day')).toBe(false)
    expect(form.get('at')).toBe('2024-01-31T12:30:00.000Z')
  })

  it("puts the API's message about an input under that input", () => {
    const fields = fieldsOf(INPUTS)
    expect(fieldOfError("Invalid input 'count': 0 is less than the minimum 1 (HTTP 422)", fields)).toBe('count')
    expect(fieldOfError("Invalid input 'other': nope", fields)).toBeNull()
    expect(fieldOfError('The server cannot be reached', fields)).toBeNull()
  })
})

describe('InputField', () => {
  it('renders a labelled control and reports what the person enters', async () => {
    const wrapper = mount(InputField, { props: { field: fieldOf(INPUTS[1]!), modelValue: '', error: null } })
    const input = wrapper.get('input#input-count')
    expect(wrapper.get('label').attributes('for')).toBe('input-count')
    expect(input.attributes('type')).toBe('number')
    expect(input.attributes('min')).toBe('1')
    await input.setValue('4')
    expect(wrapper.emitted('update:modelValue')?.at(-1)).toEqual(['4'])
  })

  it('shows an error tied to its control', () => {
    const wrapper = mount(InputField, { props: { field: fieldOf(INPUTS[4]!), modelValue: '', error: 'color is required' } })
    expect(wrapper.get('[data-testid=field-error]').text()).toBe('color is required')
    expect(wrapper.get('select').attributes('aria-describedby')).toContain('input-color-error')
    expect(wrapper.findAll('option').map((o) => o.text())).toEqual(['—', 'red', 'green'])
  })

  it('hands over the chosen file', async () => {
    const wrapper = mount(InputField, { props: { field: fieldOf(INPUTS[7]!), modelValue: null, error: null } })
    const input = wrapper.get('input[type=file]')
    const file = new File(['x'], 'a.csv')
    Object.defineProperty(input.element, 'files', { value: [file] })
    await input.trigger('change')
    expect(wrapper.emitted('update:modelValue')?.at(-1)).toEqual([file])
  })
})
