/** Theme colour ids the decorations use; package.json contributes them with defaults. */
export const COLORS = {
  note: 'txlens.lineNoteForeground',
  attention: 'txlens.lineNoteAttentionForeground',
  attentionLine: 'txlens.lostWriteLineBackground',
} as const;
