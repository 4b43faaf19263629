import { defineConfig } from 'vite'

// The built app goes where the Go web service embeds it (services/web/internal/assets/dist).
export default defineConfig({
  build: {
    outDir: '../internal/assets/dist',
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts or styles: the page's CSP allows only files from its own origin.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
})
