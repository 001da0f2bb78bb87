/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vslice trace events: FSM arcs, stream chunks, pre-copy passes, the engine
 * throttle and the switch to stop-copy, pins, dirty reports and engine
 * commands.  Enable with
 *   echo 1 > /sys/kernel/tracing/events/vslice/enable
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM vslice

#if !defined(_VSLICE_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _VSLICE_TRACE_H

#include <linux/device.h>
#include <linux/tracepoint.h>

#include "compat.h"

TRACE_EVENT(vslice_mig_arc,
	TP_PROTO(struct device *dev, int from, int to, int ret),
	TP_ARGS(dev, from, to, ret),
	TP_STRUCT__entry(
		__string(dev, dev_name(dev))
		__field(int, from)
		__field(int, to)
		__field(int, ret)
	),
	TP_fast_assign(
		vslice_assign_str(dev, dev_name(dev));
		__entry->from = from;
		__entry->to = to;
		__entry->ret = ret;
	),
	TP_printk("%s %d -> %d ret=%d", __get_str(dev), __entry->from,
		  __entry->to, __entry->ret)
);

TRACE_EVENT(vslice_mig_data,
	TP_PROTO(struct device *dev, bool save, size_t bytes, u64 total,
		 int ret),
	TP_ARGS(dev, save, bytes, total, ret),
	TP_STRUCT__entry(
		__string(dev, dev_name(dev))
		__field(bool, save)
		__field(size_t, bytes)
		__field(u64, total)
		__field(int, ret)
	),
	TP_fast_assign(
		vslice_assign_str(dev, dev_name(dev));
		__entry->save = save;
		__entry->bytes = bytes;
		__entry->total = total;
		__entry->ret = ret;
	),
	TP_printk("%s %s %zu bytes (total %llu) ret=%d", __get_str(dev),
		  __entry->save ? "save" : "load", __entry->bytes,
		  __entry->total, __entry->ret)
);

/*
 * The convergence rule changed the engine throttle: at the end of pre-copy
 * pass @pass, which dirtied @dirtied and read @read VRAM pages, or when
 * pre-copy ended (to 0, with @dirtied and @read 0).
 */
TRACE_EVENT(vslice_throttle,
	TP_PROTO(struct device *dev, u32 pass, u32 from, u32 to, u64 dirtied,
		 u64 read),
	TP_ARGS(dev, pass, from, to, dirtied, read),
	TP_STRUCT__entry(
		__string(dev, dev_name(dev))
		__field(u32, pass)
		__field(u32, from)
		__field(u32, to)
		__field(u64, dirtied)
		__field(u64, read)
	),
	TP_fast_assign(
		vslice_assign_str(dev, dev_name(dev));
		__entry->pass = pass;
		__entry->from = from;
		__entry->to = to;
		__entry->dirtied = dirtied;
		__entry->read = read;
	),
	TP_printk("%s pass %u: engine throttle %u%% -> %u%% (pass dirtied %llu pages, read %llu)",
		  __get_str(dev), __entry->pass, __entry->from, __entry->to,
		  __entry->dirtied, __entry->read)
);

TRACE_EVENT(vslice_precopy_pass,
	TP_PROTO(struct device *dev, u32 pass, u64 pages, u64 rate, u64 total,
		 u64 predicted),
	TP_ARGS(dev, pass, pages, rate, total, predicted),
	TP_STRUCT__entry(
		__string(dev, dev_name(dev))
		__field(u32, pass)
		__field(u64, pages)
		__field(u64, rate)
		__field(u64, total)
		__field(u64, predicted)
	),
	TP_fast_assign(
		vslice_assign_str(dev, dev_name(dev));
		__entry->pass = pass;
		__entry->pages = pages;
		__entry->rate = rate;
		__entry->total = total;
		__entry->predicted = predicted;
	),
	TP_printk("%s pass %u: %llu pages, dirty rate %llu pages/s, %llu bytes so far, stop-copy now %llu bytes",
		  __get_str(dev), __entry->pass, __entry->pages, __entry->rate,
		  __entry->total, __entry->predicted)
);

TRACE_EVENT(vslice_mig_switchover,
	TP_PROTO(struct device *dev, u64 predicted, u64 pending),
	TP_ARGS(dev, predicted, pending),
	TP_STRUCT__entry(
		__string(dev, dev_name(dev))
		__field(u64, predicted)
		__field(u64, pending)
	),
	TP_fast_assign(
		vslice_assign_str(dev, dev_name(dev));
		__entry->predicted = predicted;
		__entry->pending = pending;
	),
	TP_printk("%s stop-copy: last reported %llu bytes, pending at the switch %llu",
		  __get_str(dev), __entry->predicted, __entry->pending)
);

TRACE_EVENT(vslice_pin,
	TP_PROTO(struct device *dev, u64 iova, int npage, bool pin),
	TP_ARGS(dev, iova, npage, pin),
	TP_STRUCT__entry(
		__string(dev, dev_name(dev))
		__field(u64, iova)
		__field(int, npage)
		__field(bool, pin)
	),
	TP_fast_assign(
		vslice_assign_str(dev, dev_name(dev));
		__entry->iova = iova;
		__entry->npage = npage;
		__entry->pin = pin;
	),
	TP_printk("%s %s iova=%#llx npage=%d", __get_str(dev),
		  __entry->pin ? "pin" : "unpin", __entry->iova,
		  __entry->npage)
);

TRACE_EVENT(vslice_engine_cmd,
	TP_PROTO(struct device *dev, u32 ring_head, u32 opcode, u64 len,
		 u32 err),
	TP_ARGS(dev, ring_head, opcode, len, err),
	TP_STRUCT__entry(
		__string(dev, dev_name(dev))
		__field(u32, ring_head)
		__field(u32, opcode)
		__field(u64, len)
		__field(u32, err)
	),
	TP_fast_assign(
		vslice_assign_str(dev, dev_name(dev));
		__entry->ring_head = ring_head;
		__entry->opcode = opcode;
		__entry->len = len;
		__entry->err = err;
	),
	TP_printk("%s head=%u op=%u len=%llu err=%u", __get_str(dev),
		  __entry->ring_head, __entry->opcode, __entry->len, __entry->err)
);

TRACE_EVENT(vslice_dirty,
	TP_PROTO(struct device *dev, unsigned long first, unsigned long count,
		 bool vram),
	TP_ARGS(dev, first, count, vram),
	TP_STRUCT__entry(
		__string(dev, dev_name(dev))
		__field(unsigned long, first)
		__field(unsigned long, count)
		__field(bool, vram)
	),
	TP_fast_assign(
		vslice_assign_str(dev, dev_name(dev));
		__entry->first = first;
		__entry->count = count;
		__entry->vram = vram;
	),
	TP_printk("%s %s pages %lu+%lu", __get_str(dev),
		  __entry->vram ? "vram" : "guest", __entry->first,
		  __entry->count)
);

#endif /* _VSLICE_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
