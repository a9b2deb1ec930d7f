// Descriptions and plugin documentation are Markdown written by flow authors: rendered without
// raw HTML, then sanitized, so that a flow cannot inject script into the page.
import MarkdownIt from 'markdown-it'
import DOMPurify from 'dompurify'

const md = new MarkdownIt({ html: false, linkify: true, breaks: false })

export function renderMarkdown(source: string | null | undefined): string {
  return DOMPurify.sanitize(md.render(source ?? ''))
}
