#include "cli/app.h"

int main(int argc, char** argv) { return cairn::cli::Run(argc, argv); }
