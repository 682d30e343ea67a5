// linux.maskedPaths and linux.readonlyPaths (masks.c), after pivot_root.
#ifndef MASKS_H
#define MASKS_H

void op_mask(char **a);
void op_readonly(char **a);

#endif
