using System.Globalization;
using Akka.Actor;
using Akka.Configuration;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Cluster;

/// <summary>The Akka settings a server node of a cluster runs with, made from our typed <see cref="ClusterSettings"/>
/// (why each: docs/OPERATIONS.md, "Running several servers"). Layered over the node's configuration only when the
/// cluster is enabled: a single server keeps the local actor provider and opens no cluster port.</summary>
internal static class ClusterConfig
{
    /// <summary>Largest message between nodes. The same on every node (a receiver with a smaller limit tears the whole
    /// link down); relayed chunks are kept to <see cref="Server.Relay.RelayMessages.MaxRemoteChunk"/>, far below it, so chat and heartbeats never
    /// wait behind a big one.</summary>
    public const int MaxRemoteFrame = 1024 * 1024;

    /// <summary>Our messages between nodes are written by <see cref="ClusterSerializer"/>, never by Akka's default.</summary>
    public static Config Serialization { get; } = ConfigurationFactory.ParseString($$"""
        akka.actor {
          serializers.akka-tcp-transfer = "{{typeof(ClusterSerializer).FullName}}, {{typeof(ClusterSerializer).Assembly.GetName().Name}}"
          serialization-bindings {
            "{{typeof(IClusterMessage).FullName}}, {{typeof(IClusterMessage).Assembly.GetName().Name}}" = akka-tcp-transfer
            "{{typeof(Server.Federation.ICrossNodeMessage).FullName}}, {{typeof(Server.Federation.ICrossNodeMessage).Assembly.GetName().Name}}" = akka-tcp-transfer
          }
        }
        """);

    public static Config For(ClusterSettings cluster)
    {
        static string D(TimeSpan t) => ((long)t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";
        return ConfigurationFactory.ParseString($$"""
            akka {
              actor {
                provider = cluster
              }
              remote.dot-netty.tcp {
                hostname = "{{cluster.Host}}"
                port = {{cluster.Port}}
                # Where the other nodes reach this one, when not where it listens (empty: hostname).
                public-hostname = "{{cluster.PublicHost}}"
                maximum-frame-size = {{MaxRemoteFrame}}b
                # TLS with the cluster's key, both ways (the certificate and the check come in a DotNettySslSetup).
                enable-ssl = {{(cluster.CertificateFile is null ? "off" : "on")}}
              }
              cluster {
                failure-detector {
                  heartbeat-interval = {{D(cluster.HeartbeatInterval)}}
                  acceptable-heartbeat-pause = {{D(cluster.AcceptableHeartbeatPause)}}
                }
                split-brain-resolver {
                  active-strategy = keep-majority
                  stable-after = {{D(cluster.StableAfter)}}
                }
                # Our JoinTimedOut reports a failed join; Akka's own give-up would end the system without a word.
                shutdown-after-unsuccessful-join-seed-nodes = off
                singleton-proxy.log-singleton-identification-failure = off
                log-info-verbose = off
                # Rooms and accounts: the coordinator's state in distributed data, not in the journal (persistence mode is
                # being retired); entities are not remembered (a room starts again on its next message) and leave memory
                # by themselves (rooms.idle-unload), not by sharding's own idle timer.
                sharding {
                  state-store-mode = ddata
                  remember-entities = off
                  passivate-idle-entity-after = off
                }
              }
            }
            """).WithFallback(Serialization);
    }

    /// <summary>The address of the node whose cluster port is <paramref name="host"/>:<paramref name="port"/>, spoken
    /// with this node's own remoting <paramref name="protocol"/> (akka.tcp; another when a transport adapter is applied).</summary>
    public static Address SeedAddress(string protocol, string host, int port) => new(protocol, Hosting.ServerNode.SystemName, host, port);
}
