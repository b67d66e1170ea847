/* What zk-sys binds: the public API of the official ZooKeeper C client. */
#include <stdio.h>
#include <zookeeper.h>
#include <zookeeper_log.h>
#include <proto.h>
#include <recordio.h>
