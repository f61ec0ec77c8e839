// The "×" in a panel's header that removes it from the workspace (line and media panels alike).

export function RemovePanel({ metric, onRemove }: { metric: string; onRemove: () => void }) {
  return (
    <button
      type="button"
      className="link panel-remove"
      onClick={onRemove}
      aria-label={`Remove panel ${metric}`}
      title="Remove this panel (Panels ▸ restore brings it back)"
    >
      ×
    </button>
  );
}
