/* The subcommands of the `unetcl` tool. Each returns a process exit code. */
#ifndef UNETCL_CLI_COMMANDS_H
#define UNETCL_CLI_COMMANDS_H

int cmd_devices(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_weightmap(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_augment(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_plot(int argc, char **argv);

#endif
