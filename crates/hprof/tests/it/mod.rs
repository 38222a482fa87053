mod compressed;
mod format;
mod jvm;
mod leaks;
mod summary;
