using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Tests.Settings;

public sealed class ConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("att-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Reference_defaults_come_from_the_hocon_file()
    {
        var s = NodeSettings.Read(NodeConfig.Build(NodeRole.Server), NodeRole.Server);
        Assert.Equal(("server", "127.0.0.1", 7420), (s.Name, s.Host, s.Port));
        Assert.Equal(72 * 1024, s.MaxFrameSize);
        Assert.Equal(TimeSpan.FromSeconds(5), s.Server.HandshakeTimeout);
    }

    [Fact]
    public void Later_layers_win_overrides_over_files_over_preset()
    {
        var a = File("a.conf", "akka-tcp-transfer { port = 1000\n name = \"from-a\" }");
        var b = File("b.conf", "akka-tcp-transfer.port = 2000");
        var s = NodeSettings.Read(NodeConfig.Build(NodeRole.Server, [a, b], [("port", "3000")]), NodeRole.Server);
        Assert.Equal(3000, s.Port);
        Assert.Equal("from-a", s.Name);
        var t = NodeSettings.Read(NodeConfig.Build(NodeRole.Server, [a, b], []), NodeRole.Server);
        Assert.Equal(2000, t.Port);
    }

    [Fact]
    public void An_unknown_key_is_an_error_that_names_it()
    {
        var ex = Assert.Throws<ConfigException>(() => NodeConfig.Build(NodeRole.Server, ("conection.idle-timeout", "5s")));
        Assert.Contains("akka-tcp-transfer.conection.idle-timeout", ex.Message, StringComparison.Ordinal);
        var file = File("typo.conf", "akka-tcp-transfer.chat.max-mesage-bytes = 10");
        Assert.Contains("max-mesage-bytes", Assert.Throws<ConfigException>(() => NodeConfig.Build(NodeRole.Server, [file], [])).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("port", "seventy", "must be a whole number")]
    [InlineData("port", "70000", "between 0 and 65535")]
    [InlineData("connection.idle-timeout", "soon", "must be a duration")]
    [InlineData("connection.max-send-queue", "lots", "must be a size")]
    [InlineData("client.reconnect.enabled", "maybe", "must be on or off")]
    [InlineData("name", "two words", "spaces")]
    public void A_bad_value_is_an_error_naming_the_setting(string key, string value, string expected)
    {
        var ex = Assert.Throws<ConfigException>(() => NodeSettings.Read(NodeConfig.Build(NodeRole.Server, (key, value)), NodeRole.Server));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains(key.Split('.')[^1], ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cluster.seeds", "10.0.0.1", "not host:port")]
    [InlineData("cluster.seeds", "10.0.0.1:7421,nohost:port", "not host or host:port")]
    [InlineData("cluster.host", "0.0.0.0", "real address")]
    [InlineData("cluster.public-host", "::", "real address")]
    [InlineData("cluster.claim-timeout", "5s", "below server.handshake-timeout")]
    public void A_bad_cluster_setting_is_an_error_that_says_why(string key, string value, string expected)
    {
        var config = NodeConfig.Build(NodeRole.Server, [("cluster.enabled", "on"), .. Support.TestNodes.ClusterKey, (key, value)]);
        var ex = Assert.Throws<ConfigException>(() => NodeSettings.Read(config, NodeRole.Server));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cluster_without_its_key_does_not_start_unless_it_runs_without_tls_on_purpose()
    {
        var state = Directory.CreateTempSubdirectory("att-config-").FullName;
        var ex = Assert.Throws<ConfigException>(() => NodeSettings.Read(
            NodeConfig.Build(NodeRole.Server, ("cluster.enabled", "on"), ("state-dir", state)), NodeRole.Server));
        Assert.Contains("akka-tcp-transfer cluster-key --out DIR", ex.Message, StringComparison.Ordinal);
        Assert.Contains("--insecure", ex.Message, StringComparison.Ordinal);
        var half = Assert.Throws<ConfigException>(() => NodeSettings.Read(NodeConfig.Build(NodeRole.Server,
            ("cluster.enabled", "on"), ("cluster.certificate", Support.TestNodes.ClusterKey[0].Item2)), NodeRole.Server));
        Assert.Contains("go together", half.Message, StringComparison.Ordinal);

        // Without TLS (--insecure) it starts without one; with a key in the state folder it finds it there.
        Assert.Null(NodeSettings.Read(NodeConfig.Build(NodeRole.Server, ("cluster.enabled", "on"), ("state-dir", state), ("tls.enabled", "off")),
            NodeRole.Server).Cluster.CertificateFile);
        // Nor with the cluster alone in the clear (cluster.tls off), while clients keep TLS.
        var clear = NodeSettings.Read(NodeConfig.Build(NodeRole.Server, ("cluster.enabled", "on"), ("state-dir", state), ("cluster.tls", "off")),
            NodeRole.Server);
        Assert.Null(clear.Cluster.CertificateFile);
        Assert.True(clear.Tls.Enabled);
        using (AkkaTcpTransfer.Security.ClusterIdentity.Create(state)) { }
        var found = NodeSettings.Read(NodeConfig.Build(NodeRole.Server, ("cluster.enabled", "on"), ("state-dir", state)), NodeRole.Server).Cluster;
        Assert.Equal(Path.Combine(state, "cluster-certificate.pem"), found.CertificateFile);
        Assert.Equal(Path.Combine(state, "cluster-key.pem"), found.KeyFile);
    }

    [Fact]
    public void A_client_without_a_name_is_refused_at_start()
    {
        var ex = Assert.Throws<ConfigException>(() => NodeSettings.Read(NodeConfig.Build(NodeRole.Client), NodeRole.Client));
        Assert.Contains("--name", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_not_hocon_or_missing_is_an_error_naming_the_file()
    {
        var unclosed = File("unclosed.conf", "akka-tcp-transfer {\n  port = 1\n");
        var message = Assert.Throws<ConfigException>(() => NodeConfig.Build(NodeRole.Server, [unclosed], [])).Message;
        Assert.Contains("unclosed.conf", message, StringComparison.Ordinal);
        Assert.Contains("'{' opened on line 1 is never closed", message, StringComparison.Ordinal);
        var noValue = File("novalue.conf", "akka-tcp-transfer { port = }");
        Assert.Contains("'akka-tcp-transfer.port' has no value", Assert.Throws<ConfigException>(() => NodeConfig.Build(NodeRole.Server, [noValue], [])).Message, StringComparison.Ordinal);
        var unterminated = File("string.conf", "# a \"comment\" with { braces\nakka-tcp-transfer.name = \"open");
        Assert.Contains("unterminated string on line 2", Assert.Throws<ConfigException>(() => NodeConfig.Build(NodeRole.Server, [unterminated], [])).Message, StringComparison.Ordinal);
        var fine = File("fine.conf", "# ok { [\nakka-tcp-transfer { name = \"a}b\" } // trailing [");
        Assert.Equal("a}b", NodeConfig.Build(NodeRole.Server, [fine], []).GetString("akka-tcp-transfer.name"));
        Assert.Contains("cannot read config file", Assert.Throws<ConfigException>(() => NodeConfig.Build(NodeRole.Server, [Path.Combine(_dir, "none.conf")], [])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Override_values_with_quotes_and_backslashes_arrive_verbatim()
    {
        var s = NodeSettings.Read(NodeConfig.Build(NodeRole.Server, ("token", "a\"b\\c d")), NodeRole.Server);
        Assert.Equal("a\"b\\c d", s.Token);
    }

    [Fact]
    public void Akka_settings_can_be_overridden_by_their_full_path()
    {
        var config = NodeConfig.Build(NodeRole.Server, ("akka.loglevel", "ERROR"));
        Assert.Equal("ERROR", config.GetString("akka.loglevel"));
    }

    [Theory]
    [InlineData("transfer.max-window", "16m", 12 << 20)]      // more than half the 24 MiB send queue: half
    [InlineData("transfer.max-window", "256k", 512 << 10)]    // less than transfer.window: the window, fixed
    [InlineData("connection.max-send-queue", "4m", 2 << 20)]  // a smaller queue (and window) set alone keeps working
    public void The_largest_window_fits_between_the_window_and_half_the_send_queue(string key, string value, int expected)
    {
        var settings = NodeSettings.Read(NodeConfig.Build(NodeRole.Server, ("transfer.window", key.StartsWith("connection", StringComparison.Ordinal) ? "128k" : "512k"), (key, value)), NodeRole.Server);
        Assert.Equal(expected, settings.Transfer.MaxWindow);
    }
}
