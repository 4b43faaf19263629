package files

// CrashPoint is crashPoint for the service's other packages (the tus store): a no-op unless
// the binary is built with -tags faultinject.
func CrashPoint(name string) { crashPoint(name) }
