"""aircall_sms: the domain logic of aircall-sms-gateway, shared by every Lambda function through the layer."""
