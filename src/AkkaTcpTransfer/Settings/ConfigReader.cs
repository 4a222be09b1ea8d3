using Akka.Configuration;

namespace AkkaTcpTransfer.Settings;

/// <summary>Typed, range-checked reads of one configuration. Every read names the full path in its error, and no
/// read has a default: a missing key means reference.conf is incomplete, which is a bug we want to hear about.</summary>
internal sealed class ConfigReader(Config config)
{
    private string Require(string path)
    {
        if (!config.HasPath(path)) throw new ConfigException($"missing setting {path}");
        return path;
    }

    public string String(string path) => config.GetString(Require(path)) ?? "";

    public int Int(string path, int min, int max)
    {
        int value;
        try
        {
            value = config.GetInt(Require(path));
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new ConfigException($"{path} must be a whole number, got '{config.GetString(path)}'", e);
        }
        if (value < min || value > max) throw new ConfigException($"{path} must be between {min} and {max}, got {value}");
        return value;
    }

    /// <summary>A whole number, or "auto" (null): the node works the value out at start.</summary>
    public int? IntOrAuto(string path, int min, int max) =>
        string.Equals(String(path).Trim(), "auto", StringComparison.OrdinalIgnoreCase) ? null : Int(path, min, max);

    public bool Bool(string path)
    {
        var raw = String(path).Trim().ToLowerInvariant();
        return raw switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" => false,
            _ => throw new ConfigException($"{path} must be on or off, got '{raw}'"),
        };
    }

    public long Bytes(string path, long min, long max)
    {
        long? value;
        try
        {
            value = config.GetByteSize(Require(path));
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            throw new ConfigException($"{path} must be a size such as 64k or 16m, got '{config.GetString(path)}'", e);
        }
        if (value is not { } v) throw new ConfigException($"{path} must be a size such as 64k or 16m");
        if (v < min || v > max) throw new ConfigException($"{path} must be between {min} and {max} bytes, got {v}");
        return v;
    }

    public TimeSpan Duration(string path, TimeSpan min, TimeSpan max)
    {
        TimeSpan value;
        try
        {
            value = config.GetTimeSpan(Require(path), allowInfinite: false);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            throw new ConfigException($"{path} must be a duration such as 500ms or 5s, got '{config.GetString(path)}'", e);
        }
        if (value < min || value > max) throw new ConfigException($"{path} must be between {min} and {max}, got {value}");
        return value;
    }
}
