/** The chart's fixed measures, in pixels. */

/** The column of lane names left of the plot. */
export const LABEL_W = 230;
export const AXIS_H = 26;
/** A process's heading row above its lanes. */
export const PROC_H = 22;
/** One lane. */
export const ROW_H = 42;
/** A transaction bar's height inside its lane. */
export const BAR_H = 12;
/** Room right of the plot, for labels that end there. */
export const RIGHT_PAD = 64;
/** Pixels between two shown test windows when the chart shows several side by side. */
export const SEGMENT_GAP = 16;
/** Width per character of the small labels, where the text is fitted without measuring it. */
export const TEST_LABEL_CHAR_PX = 6.2;
