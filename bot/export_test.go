package bot

// The renderers, for the property test over both platforms' payloads
// (inert_test.go), which must import the adapters and so lives in
// package bot_test.
var (
	RenderCard     = renderCard
	RenderProgress = renderProgress
	RenderSummary  = renderSummary
)
