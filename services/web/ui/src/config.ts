// Where the services are, as the web service's /config.json tells the page.
export interface Config {
  auth_url: string
  files_url: string
  client_id: string
  scope: string
}

export async function loadConfig(): Promise<Config> {
  const res = await fetch('/config.json', { cache: 'no-cache' })
  if (!res.ok) throw new Error(`config: HTTP ${res.status}`)
  return (await res.json()) as Config
}
