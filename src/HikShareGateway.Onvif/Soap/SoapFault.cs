using HikShareGateway.Core.Devices;

namespace HikShareGateway.Onvif.Soap;

/// <summary>
/// A SOAP 1.2 fault (SOAP 1.2 part 1 §5.4): <c>Code/Value</c> (env:Sender, env:Receiver …), nested
/// <c>Subcode/Value</c>s (ONVIF puts <c>ter:NotAuthorized</c>, <c>ter:InvalidArgVal</c>, <c>ter:ActionNotSupported</c> there)
/// and a human <c>Reason/Text</c>.
/// </summary>
public sealed record SoapFault(string Code, IReadOnlyList<string> Subcodes, string Reason)
{
    /// <summary>True when any (sub)code names <paramref name="localName"/> (prefix ignored: devices use ter:, env: or none).</summary>
    public bool Is(string localName)
    {
        if (LocalPart(Code) == localName)
        {
            return true;
        }
        foreach (var s in Subcodes)
        {
            if (LocalPart(s) == localName)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>ONVIF Core §5.11.2: ter:NotAuthorized (also "Sender not Authorized" without a subcode on some Hikvision firmware).</summary>
    public bool IsNotAuthorized => Is("NotAuthorized") || Is("FailedAuthentication") || Reason.Contains("not authorized", StringComparison.OrdinalIgnoreCase);

    public bool IsNotSupported => Is("ActionNotSupported") || Is("NoSuchService") || Is("NotSupported") || Is("Action") && Reason.Contains("not", StringComparison.OrdinalIgnoreCase) && Reason.Contains("support", StringComparison.OrdinalIgnoreCase);

    public override string ToString()
    {
        var sub = Subcodes.Count == 0 ? "" : "/" + string.Join("/", Subcodes);
        var reason = string.IsNullOrWhiteSpace(Reason) ? "(no reason given)" : Reason;
        return $"{Code}{sub}: {reason}";
    }

    public DeviceException ToException(string operation)
    {
        var kind = IsNotAuthorized ? DeviceErrorKind.Unauthorized : IsNotSupported ? DeviceErrorKind.NotSupported : DeviceErrorKind.Failed;
        var e = new DeviceException(kind, $"{operation}: the device answered with SOAP fault {this}");
        e.Data["SoapFault"] = this;
        return e;
    }

    private static string LocalPart(string qname)
    {
        var i = qname.IndexOf(':');
        return i < 0 ? qname.Trim() : qname[(i + 1)..].Trim();
    }
}

public static class DeviceExceptionExtensions
{
    /// <summary>The SOAP fault behind a device error, when there was one.</summary>
    public static SoapFault? Fault(this DeviceException e) => e.Data["SoapFault"] as SoapFault;
}
