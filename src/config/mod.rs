//! Configuration: `conf/strato-conf.yaml`, typed options with defaults, units. (being written)
