#ifndef HEAVEN_INTERNAL_H
#define HEAVEN_INTERNAL_H

/// Lowers a resource limit to `value` (never raises it; 0 or less: unchanged). Only
/// system calls: safe in a child of vfork or fork.
void heaven_lower_limit(int resource, long long value);

#endif
